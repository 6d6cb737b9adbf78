# expect: SHAPE_ERROR
a_next = np.tanh(Waa * a_prev + Wax * xt + ba)
yt_pred = softmax(Wya * a_next + by)
